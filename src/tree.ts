// Killing a whole process tree, each member pinned by a pidfd before it is signalled.
import type { Channel } from './channel.js'
import { native } from './errors.js'
import type { ExitInfo } from './exit-info.js'
import { adoptedChildren } from './child-process-hooks.js'
import { ProcessHandle } from './handle.js'
import type { NativeTreeMember } from './native.js'

/** A process of a tree, as seen when it was listed. */
export type TreeMember = NativeTreeMember

export interface KillTreeOptions {
  /** Send `escalateSignal` to every member still alive after this many milliseconds. */
  escalateAfterMs?: number
  /** Default 'SIGKILL'. */
  escalateSignal?: NodeJS.Signals | number
  /** Called with the pinned (and stopped) members just before they are signalled. */
  onMembers?: (members: TreeMember[]) => void
}

/**
 * Stops the tree top-down (a stopped process cannot fork, and the walk is repeated until no
 * new member appears), pins every member with a pidfd, signals them all while stopped, then
 * continues them: no member can escape by forking, none sees its parent die before it got
 * the signal itself, and a pid reused by an unrelated process is never signalled.
 * Resolves with one exit per member, once all are gone.
 */
export async function killTree(
  channel: Channel,
  root: ProcessHandle,
  signal: NodeJS.Signals | number,
  options: KillTreeOptions,
): Promise<ExitInfo[]> {
  const roots = [...(root.exit ? [] : [root.pid]), ...adoptedChildren()]
  const pinned = native(() => channel.native.pinTree(roots))
  const handles = pinned.map(({ member, token }) => new ProcessHandle(channel, member.pid, token))
  options.onMembers?.(pinned.map(({ member }) => member))
  for (const handle of handles) send(handle, signal)
  for (const handle of handles) send(handle, 'SIGCONT')
  const escalation =
    options.escalateAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          for (const handle of handles) if (!handle.exit) send(handle, options.escalateSignal ?? 'SIGKILL')
        }, options.escalateAfterMs)
  try {
    return await Promise.all(handles.map((h) => h.exited))
  } finally {
    clearTimeout(escalation)
  }
}

function send(handle: ProcessHandle, signal: NodeJS.Signals | number): void {
  try {
    handle.kill(signal)
  } catch {
    // Exited meanwhile: its exit is still collected.
  }
}
