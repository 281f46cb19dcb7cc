// The native addon, loaded on first use: importing exitwatch never fails, so type-only users
// and code that merely imports it on another OS are fine; using it there throws a clear error.
import type * as Binding from '../binding.js'
import { ExitwatchError } from './errors.js'
import { loadBinding, SUPPORTED } from './load-binding.cjs'

export type NativeExit = Binding.NativeExit
export type NativeChannel = Binding.NativeChannel
export type NativeStats = Binding.NativeStats
export type NativeCapabilities = Binding.NativeCapabilities
export type NativeSpawnSpec = Binding.NativeSpawnSpec
export type NativeStdio = Binding.NativeStdio

let loaded: typeof Binding | undefined

export function binding(): typeof Binding {
  if (loaded) return loaded
  if (process.platform !== 'linux') {
    throw new ExitwatchError(
      'ENOSYS',
      `exitwatch runs on Linux only (it is built on pidfd, epoll and waitid); this is ${process.platform}-${process.arch}. Supported: ${SUPPORTED.join(', ')}.`,
    )
  }
  try {
    loaded = loadBinding()
  } catch (error) {
    throw new ExitwatchError(
      'ENOSYS',
      `no exitwatch binary could be loaded for linux-${process.arch} (${(error as Error).message.split('\n')[0]}). Supported: ${SUPPORTED.join(', ')}. Reinstall without --no-optional / --omit=optional.`,
    )
  }
  return loaded
}
