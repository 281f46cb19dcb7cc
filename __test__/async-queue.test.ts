// The queue behind exits() and Supervisor.events(): pure logic, no processes.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import type { AsyncQueue as Queue } from '../src/async-queue.js'

const { AsyncQueue } = createRequire(import.meta.url)('../dist/cjs/async-queue.js') as { AsyncQueue: typeof Queue }

describe('AsyncQueue', () => {
  it('hands items out oldest first, to a reader that waited or came later', async () => {
    const queue = new AsyncQueue<number>()
    const waiting = queue.next()
    queue.push(1)
    queue.push(2)
    queue.push(3)
    expect(await waiting).toEqual({ value: 1, done: false })
    expect(queue.pending).toBe(2)
    expect(await queue.next()).toEqual({ value: 2, done: false })
    expect(await queue.next()).toEqual({ value: 3, done: false })
    expect(queue.pending).toBe(0)
  })

  it('keeps the order across thousands of items taken as they come', async () => {
    const queue = new AsyncQueue<number>()
    const taken: number[] = []
    for (let i = 0; i < 5000; i++) {
      queue.push(i)
      if (i % 3 === 0) taken.push((await queue.next()).value as number)
    }
    queue.end()
    for await (const item of queue) taken.push(item)
    expect(taken).toEqual(Array.from({ length: 5000 }, (_, i) => i))
  })

  it('end(): the reader gets what is queued, then is done; later pushes are dropped', async () => {
    const queue = new AsyncQueue<string>()
    queue.push('a')
    queue.end()
    queue.push('b')
    expect(await queue.next()).toEqual({ value: 'a', done: false })
    expect(await queue.next()).toEqual({ value: undefined, done: true })
    const waiting = new AsyncQueue<string>()
    const pending = waiting.next()
    waiting.end()
    expect(await pending).toEqual({ value: undefined, done: true })
  })

  it('close(): drops what is queued; a waiting reader is done, or rejects with the reason', async () => {
    const queue = new AsyncQueue<string>()
    queue.push('a')
    queue.close()
    expect(queue.pending).toBe(0)
    expect(await queue.next()).toEqual({ value: undefined, done: true })
    const aborted = new AsyncQueue<string>()
    const pending = aborted.next()
    aborted.close(new Error('aborted'))
    await expect(pending).rejects.toThrow('aborted')
  })

  it('return() (a for-await break) closes it', async () => {
    const queue = new AsyncQueue<number>()
    queue.push(1)
    queue.push(2)
    for await (const item of queue) {
      expect(item).toBe(1)
      break
    }
    expect(queue.pending).toBe(0)
    expect(await queue.next()).toEqual({ value: undefined, done: true })
  })
})
