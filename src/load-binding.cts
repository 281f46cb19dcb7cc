// Loads the prebuilt addon (CommonJS, so both the ESM and the CommonJS builds share it).
// The napi-rs loader at the package root picks exitwatch.<platform>.node next to it, or the
// matching exitwatch-<platform> package.
import type * as Binding from '../binding.js'

export const SUPPORTED = ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl']

export function loadBinding(): typeof Binding {
  return require('../../binding.cjs') as typeof Binding
}
