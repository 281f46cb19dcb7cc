export { ExitMonitor, type WatchOptions, type Stats, type Capabilities } from './monitor.js'
export { ProcessHandle } from './handle.js'
export { ExitwatchError, type ExitwatchErrorCode } from './errors.js'
export type { ExitInfo, ExitStatusKind, StatusSource } from './exit-info.js'
