// The JavaScript side of exit delivery, against a scripted native channel: pure logic, no
// processes.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type { Channel as ChannelClass } from '../src/channel.js'
import type { ExitInfo } from '../src/exit-info.js'
import type { NativeChannel, NativeExit } from '../src/native.js'

const { Channel } = createRequire(import.meta.url)('../dist/cjs/channel.js') as { Channel: typeof ChannelClass }

/** A native channel whose exits the test queues, and whose ready calls the test makes. */
function scripted(): { channel: ChannelClass; queue: (token: number) => void; ready: () => void } {
  const waiting: NativeExit[] = []
  let onReady = (): void => {}
  const native = { drain: () => waiting.splice(0), setReferenced: () => {} } as unknown as NativeChannel
  const channel = new Channel((callback) => {
    onReady = callback
    return native
  })
  const queue = (token: number): void => {
    waiting.push({ kind: 'watch', target: token, pid: 1000 + token, status: 'exited', code: 0, exitedAtMs: 0, monotonicNs: '0', source: 'waitid', reaped: true, orphan: false } as unknown as NativeExit)
  }
  return { channel, queue, ready: () => onReady() }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1))

describe('Channel', () => {
  it('a ready call that finds nothing to drain loses no later exit', async () => {
    const { channel, queue, ready } = scripted()
    const delivered: ExitInfo[] = []
    for (const token of [1, 2, 3]) channel.onWatchExit(token, (exit) => delivered.push(exit))
    queue(1)
    ready()
    ready() // coalesced late: the first call drained its exit
    await nextTurn()
    ready() // a later turn, nothing waiting
    await nextTurn()
    queue(2)
    ready()
    await nextTurn()
    queue(3)
    ready()
    await nextTurn()
    expect(delivered.map((exit) => exit.pid)).toEqual([1001, 1002, 1003])
  })
})
