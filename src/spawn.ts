// Starting processes without fork(): the native side spawns them (posix_spawn semantics, so the
// cost does not grow with this process's memory), owns and reaps them. Here the options are
// checked, and the parent's ends of the pipes become Node streams.
import { closeSync } from 'node:fs'
import { Socket } from 'node:net'
import type { Readable, Stream, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'
import type { Channel } from './channel.js'
import { recordSpawned } from './child-process-hooks.js'
import { ExitwatchError, invalid, native } from './errors.js'
import { ProcessHandle } from './handle.js'
import type { NativeSpawnSpec, NativeStdio } from './native.js'
import { signalNumber } from './signals.js'

/** What one child descriptor is connected to. */
export type StdioEntry =
  /** A new pipe; the parent's end becomes `stdin` / `stdout` / `stderr` / `stdio[i]`. */
  | 'pipe'
  /** This process's descriptor with the same number. */
  | 'inherit'
  /** `/dev/null`. */
  | 'ignore'
  /** An open descriptor of this process. */
  | number
  /** A stream with a descriptor: `process.stdout`, an fs stream once open, a connected `net.Socket`. */
  | Stream
  | { readonly fd: number }
  /** The default: 'pipe' for 0, 1, 2; 'ignore' above. */
  | null
  | undefined

export interface SpawnOptions {
  /** One entry per child descriptor (index = descriptor), or one word for 0, 1 and 2. Default 'pipe'. */
  stdio?: 'pipe' | 'inherit' | 'ignore' | readonly StdioEntry[]
  /** The child's environment. Default `process.env` (this thread's, also in a worker). */
  env?: Readonly<Record<string, string | undefined>>
  cwd?: string | URL
  /** The child's `argv[0]`. Default `file`. */
  argv0?: string
  /** Start the child in a new session and process group. Default false. */
  detached?: boolean
  uid?: number
  gid?: number
  /** Kills the child with `killSignal` when aborted; an already-aborted signal spawns nothing (ECANCELED). */
  signal?: AbortSignal
  /** Kills the child with `killSignal` after this many milliseconds. Default 0: never. */
  timeout?: number
  /** Default 'SIGTERM'. */
  killSignal?: NodeJS.Signals | number
}

/** A command to spawn: what `monitor.spawn(file, args, options)` takes, as one value. */
export interface SpawnCommand {
  file: string
  args?: readonly string[]
  options?: SpawnOptions
}

/**
 * A process started by `monitor.spawn()`: a `ProcessHandle` (exitwatch owns and reaps it)
 * with its pipes as Node streams. The exit can arrive before the pipes have been read to
 * their end: `exited` may resolve before `stdout` emits 'end', and what the child wrote stays
 * readable.
 */
export class SpawnedProcess extends ProcessHandle {
  /** The parent's end of the child's stdin pipe (destroyed when the child exits), or null. */
  readonly stdin: Writable | null
  readonly stdout: Readable | null
  readonly stderr: Readable | null
  /** One entry per child descriptor: its pipe (duplex above 2), or null where not piped. */
  readonly stdio: ReadonlyArray<Socket | null>

  /** @internal use `ExitMonitor.spawn()` */
  constructor(channel: Channel, pid: number, token: number, pipes: Array<Socket | null>) {
    super(channel, pid, token)
    this.stdio = pipes
    this.stdin = pipes[0] ?? null
    this.stdout = pipes[1] ?? null
    this.stderr = pipes[2] ?? null
    // As child_process does: nobody can write to a child that is gone.
    const destroyStdin = (): void => void this.stdin?.destroy()
    this.exited.then(destroyStdin, destroyStdin)
  }

  /** Lets the event loop end while the process runs, also while its pipes are open. */
  override unref(): this {
    super.unref()
    for (const pipe of this.stdio) pipe?.unref()
    return this
  }

  override ref(): this {
    super.ref()
    for (const pipe of this.stdio) pipe?.ref()
    return this
  }

  /**
   * Stops watching (a pending `exited` rejects with ECANCELED) and closes this process's ends
   * of the pipes. The child keeps running and is still reaped by exitwatch.
   */
  override [Symbol.dispose](): void {
    for (const pipe of this.stdio) pipe?.destroy()
    super[Symbol.dispose]()
  }
}

/** What spawning needs, checked: the native spec and what the JavaScript side does itself. */
export interface CheckedSpawn {
  spec: NativeSpawnSpec
  signal: AbortSignal | undefined
  timeoutMs: number
  killSignal: number
}

/** `monitor.spawn()`: checks everything first, so a bad option starts nothing. */
export function spawnProcess(
  channel: Channel,
  file: string,
  argsOrOptions?: readonly string[] | SpawnOptions,
  maybeOptions?: SpawnOptions,
): SpawnedProcess {
  const { spec, signal, timeoutMs, killSignal } = checkSpawn(file, argsOrOptions, maybeOptions)
  if (signal?.aborted) {
    throw new ExitwatchError('ECANCELED', `${file} was not started: the spawn's AbortSignal was already aborted`, { cause: signal.reason })
  }
  const spawned = native(() => channel.native.spawn(spec))
  const pipes = socketsFor(spawned.fds)
  const child = new SpawnedProcess(channel, spawned.pid, spawned.token, pipes)
  recordSpawned(child.pid, child.exited)
  killOnAbortOrTimeout(child, signal, timeoutMs, killSignal)
  return child
}

/** The pure half of `spawnProcess`: argument checks and conversion to the native spec. */
export function checkSpawn(
  file: string,
  argsOrOptions?: readonly string[] | SpawnOptions,
  maybeOptions?: SpawnOptions,
): CheckedSpawn {
  // As child_process: spawn(file, options) and spawn(file, null, options) work too.
  const args: readonly unknown[] = Array.isArray(argsOrOptions) ? argsOrOptions : []
  const given: unknown = Array.isArray(argsOrOptions) || argsOrOptions === null || argsOrOptions === undefined ? maybeOptions : argsOrOptions
  const options = given === undefined ? {} : given
  if (options === null || typeof options !== 'object') throw invalid(`options must be an object, not ${describe(options)}`)
  return checkOptions(file, args, options)
}

function checkOptions(file: unknown, args: readonly unknown[], options: SpawnOptions): CheckedSpawn {
  if (checkText(file, 'file') === '') throw invalid('file must not be empty')
  const spec: NativeSpawnSpec = {
    file: file as string,
    args: args.map((arg, i) => checkText(arg, `args[${i}]`)),
    env: environment(options.env),
    stdio: stdio(options.stdio ?? 'pipe'),
    detached: checkBoolean(options.detached ?? false, 'detached'),
  }
  if (options.argv0 !== undefined) spec.argv0 = checkText(options.argv0, 'argv0')
  if (options.cwd !== undefined) spec.cwd = directory(options.cwd)
  if (options.uid !== undefined) spec.uid = checkId(options.uid, 'uid')
  if (options.gid !== undefined) spec.gid = checkId(options.gid, 'gid')
  return {
    spec,
    signal: abortSignal(options.signal),
    timeoutMs: timeout(options.timeout ?? 0),
    killSignal: signalNumber(options.killSignal ?? 'SIGTERM'),
  }
}

function killOnAbortOrTimeout(child: ProcessHandle, signal: AbortSignal | undefined, timeoutMs: number, killSignal: number): void {
  if (!signal && timeoutMs === 0) return
  const kill = (): void => {
    try {
      child.kill(killSignal)
    } catch {
      // Exited meanwhile.
    }
  }
  signal?.addEventListener('abort', kill, { once: true })
  // Unreferenced: the pending exit holds the event loop, and `unref()` releases it.
  const timer = timeoutMs > 0 ? setTimeout(kill, timeoutMs).unref() : undefined
  const stop = (): void => {
    signal?.removeEventListener('abort', kill)
    clearTimeout(timer)
  }
  child.exited.then(stop, stop)
}

/** Node streams over the parent's pipe ends (fds[i] is null where descriptor i is not a pipe). */
function socketsFor(fds: ReadonlyArray<number | null | undefined>): Array<Socket | null> {
  const pipes: Array<Socket | null> = []
  try {
    for (const [i, fd] of fds.entries()) {
      // stdin is written, stdout and stderr read, the descriptors above both.
      pipes.push(fd === null || fd === undefined ? null : new Socket({ fd, readable: i !== 0, writable: i === 0 || i > 2 }))
    }
    return pipes
  } catch (error) {
    for (const pipe of pipes) pipe?.destroy()
    for (const fd of fds.slice(pipes.length)) if (fd !== null && fd !== undefined) closeSync(fd)
    throw error
  }
}

const WORDS: ReadonlySet<unknown> = new Set(['pipe', 'inherit', 'ignore'])

function stdio(option: NonNullable<SpawnOptions['stdio']>): NativeStdio[] {
  if (typeof option === 'string') {
    if (!WORDS.has(option)) throw invalid(`stdio must be 'pipe', 'inherit', 'ignore' or an array, not ${describe(option)}`)
    return [0, 1, 2].map(() => ({ kind: option }))
  }
  if (!Array.isArray(option)) throw invalid(`stdio must be 'pipe', 'inherit', 'ignore' or an array, not ${describe(option)}`)
  const entries: readonly StdioEntry[] = option.length < 3 ? [...option, ...Array<undefined>(3 - option.length)] : option
  return entries.map((entry, i) => stdioEntry(entry, i))
}

function stdioEntry(entry: StdioEntry, i: number): NativeStdio {
  if (entry === null || entry === undefined) return { kind: i < 3 ? 'pipe' : 'ignore' }
  if (typeof entry === 'string') {
    if (WORDS.has(entry)) return { kind: entry }
  } else if (typeof entry === 'number') {
    return { kind: 'fd', fd: descriptor(entry, `stdio[${i}]`) }
  } else if (typeof entry === 'object') {
    const fd = 'fd' in entry ? (entry as { fd: unknown }).fd : socketDescriptor(entry)
    if (typeof fd === 'number') return { kind: 'fd', fd: descriptor(fd, `stdio[${i}].fd`) }
    throw invalid(`stdio[${i}] is a stream without a descriptor (an fs stream has one after 'open')`)
  }
  throw invalid(`stdio[${i}] must be 'pipe', 'inherit', 'ignore', a file descriptor or a stream with one, not ${describe(entry)}`)
}

/** The descriptor of a connected `net.Socket` (Node keeps it on the socket's handle). */
function socketDescriptor(entry: object): number | undefined {
  if (!(entry instanceof Socket)) return undefined
  const fd = (entry as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

function descriptor(fd: number, name: string): number {
  if (Number.isInteger(fd) && fd >= 0 && fd < 2 ** 31) return fd
  throw invalid(`${name} must be an open file descriptor (an integer ≥ 0), not ${describe(fd)}`)
}

/**
 * The child's environment entries; undefined for this process's own environment, which the
 * native side reads itself (cheaper): on the main thread `process.env` is that environment,
 * while a worker's is a copy of its own and is passed on.
 */
function environment(env: Readonly<Record<string, string | undefined>> | undefined): string[] | undefined {
  if (env === undefined) return isMainThread ? undefined : environment(process.env)
  if (env === null || typeof env !== 'object') throw invalid(`env must be an object, not ${describe(env)}`)
  const entries: string[] = []
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue
    if (key === '' || key.includes('=') || key.includes('\0')) throw invalid(`env has an invalid variable name ${JSON.stringify(key)}`)
    const text = String(value)
    if (text.includes('\0')) throw invalid(`env.${key} contains a NUL character`)
    entries.push(`${key}=${text}`)
  }
  return entries
}

function directory(cwd: string | URL): string {
  const path = cwd instanceof URL ? fileURLToPath(cwd) : cwd
  checkText(path, 'cwd')
  if (path === '') throw invalid('cwd must not be empty')
  return path
}

function checkText(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalid(`${name} must be a string, not ${describe(value)}`)
  if (value.includes('\0')) throw invalid(`${name} contains a NUL character`)
  return value
}

function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalid(`${name} must be true or false, not ${describe(value)}`)
  return value
}

/** A user or group id; 2^32 - 1 is the kernel's "unchanged", not an id. */
function checkId(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 32 - 1) return value
  throw invalid(`${name} must be an integer from 0 to ${2 ** 32 - 2}, not ${describe(value)}`)
}

function timeout(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 31) return value
  throw invalid(`timeout must be a whole number of milliseconds (0: none), not ${describe(value)}`)
}

function abortSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value
  throw invalid(`signal must be an AbortSignal, not ${describe(value)}`)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'an object'
  return String(value)
}
