export { ExitMonitor, type WatchOptions, type ExitsOptions, type SubreaperOptions, type Stats, type Capabilities } from './monitor.js'
export { ExitStream } from './exit-stream.js'
export { Subscription } from './subscription.js'
export { ProcessHandle } from './handle.js'
export { SpawnedProcess, type SpawnOptions, type SpawnCommand, type StdioEntry } from './spawn.js'
export { ExitwatchError, type ExitwatchErrorCode } from './errors.js'
export type { ExitInfo, ExitInfoJSON, ExitStatusKind, StatusSource, Usage } from './exit-info.js'
export type { Init, InitOptions } from './init.js'
export type { TreeMember, KillTreeOptions } from './tree.js'
export {
  supervise,
  Supervisor,
  type SuperviseOptions,
  type SuperviseStart,
  type SupervisorEvent,
  type SupervisorStatus,
  type RestartPolicy,
  type BackoffOptions,
  type StopOptions,
} from './supervisor.js'
