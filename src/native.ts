// Loads the prebuilt addon through the napi-rs generated loader (CommonJS).
import { createRequire } from 'node:module'
import type * as Binding from '../binding.js'

const require = createRequire(import.meta.url)

export type NativeExit = Binding.NativeExit
export type NativeChannel = Binding.NativeChannel
export type NativeStats = Binding.NativeStats
export type NativeCapabilities = Binding.NativeCapabilities

export const binding = require('../binding.cjs') as typeof Binding
