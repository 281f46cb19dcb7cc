// Optional Prometheus metrics (prom-client is a peer dependency, loaded only by this entry).
import { Counter, Gauge, type Registry } from 'prom-client'
import { ExitMonitor, type Stats } from './monitor.js'

interface Metric {
  type: 'gauge' | 'counter'
  name: string
  help: string
}

const gauge = (name: string, help: string): Metric => ({ type: 'gauge', name, help })
const counter = (name: string, help: string): Metric => ({ type: 'counter', name, help })

/**
 * The metric of each stats field (a boolean reads as 1 or 0), or a note on where else it is
 * exported or why it is not. Typed over every field of `Stats`, so a new field cannot be left
 * out unnoticed.
 */
const METRICS: { [Field in keyof Stats]: Metric | string } = {
  watched: gauge('exitwatch_watched_processes', 'Processes watched now.'),
  exitsObserved: 'the sum of exitwatch_exits_total',
  reapedOwned: 'exitwatch_reaped_total{kind="owned"}',
  reapedOrphans: 'exitwatch_reaped_total{kind="orphan"}',
  unknownStatuses: counter('exitwatch_unknown_statuses_total', 'Exits whose status no kernel source had.'),
  bySource: 'exitwatch_exits_total{source}',
  queueDepth: gauge('exitwatch_queue_depth', 'Exits queued for consumers and not taken yet.'),
  queueDepthMax: gauge('exitwatch_queue_depth_max', 'Most exits ever queued at once.'),
  pendingStatuses: gauge('exitwatch_pending_statuses', 'Exits seen whose status is not readable yet.'),
  statusRetries: 'a detail of pendingStatuses',
  monitorThreadAlive: gauge('exitwatch_monitor_thread_up', 'Whether the monitor thread is alive (1) or not (0).'),
  monitorThreadRestarts: counter('exitwatch_monitor_thread_restarts_total', 'Times the monitor thread was restarted after dying.'),
  wakeups: counter('exitwatch_wakeups_total', 'Times the monitor thread woke up.'),
  lastWakeupAt: 'a timestamp; rate(exitwatch_wakeups_total) tells the same',
  subscriptions: gauge('exitwatch_subscriptions', 'Open subscriptions (iterators, pre-start subscriptions, listeners).'),
  descriptorsInUse: gauge('exitwatch_open_fds', 'Open file descriptors of the process.'),
  poisonRecoveries: counter('exitwatch_poison_recoveries_total', 'Poisoned locks recovered.'),
  fallbackExits: counter('exitwatch_fallback_exits_total', 'Exits observed by the poll engine (no pidfds).'),
  listenerErrors: counter('exitwatch_listener_errors_total', 'Exit listeners that threw (this thread).'),
  procConnectorListening: gauge('exitwatch_proc_connector_listening', 'Whether the proc connector socket is open (1) or not (0).'),
  procConnectorEvents: counter('exitwatch_proc_connector_events_total', 'Process events read from the proc connector.'),
  procConnectorOverruns: counter('exitwatch_proc_connector_overruns_total', 'Proc connector socket overflows (events lost; other sources used).'),
  procConnectorFailures: counter('exitwatch_proc_connector_failures_total', 'Times the proc connector could not be opened or read.'),
  procConnectorWaits: counter('exitwatch_proc_connector_waits_total', 'Exits reaped by their owner before their proc connector event was read, that waited for it.'),
  procConnectorMissed: counter('exitwatch_proc_connector_missed_total', 'Exits whose proc connector event did not come within 1 s (delivered as unknown).'),
  spawned: counter('exitwatch_spawned_total', 'Processes started by spawn().'),
  spawnFailures: counter('exitwatch_spawn_failures_total', 'Spawns that failed once their options were checked.'),
  spawnRefusals: counter('exitwatch_spawn_refusals_total', 'Spawn steps the system refused, each then done a slower way.'),
}

/**
 * Registers exitwatch's health as Prometheus metrics on `register` (prom-client's default
 * registry if omitted). Values are read from `monitor.stats()` at each scrape.
 */
export function collectMetrics(register?: Registry, monitor: ExitMonitor = ExitMonitor.shared()): void {
  const registers = register ? [register] : undefined
  let snapshot: Stats | undefined
  let snapshotAt = -1
  // One stats() call per scrape, shared by every metric's collect().
  const stats = (): Stats => {
    const now = performance.now()
    if (!snapshot || now - snapshotAt > 100) {
      snapshot = monitor.stats()
      snapshotAt = now
    }
    return snapshot
  }

  for (const [field, metric] of Object.entries(METRICS) as [keyof Stats, Metric | string][]) {
    if (typeof metric === 'string') continue
    const read = (): number => Number(stats()[field])
    const { name, help } = metric
    if (metric.type === 'gauge') {
      new Gauge({ name, help, registers, collect() { this.set(read()) } })
    } else {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          this.inc(read())
        },
      })
    }
  }
  new Counter({
    name: 'exitwatch_exits_total',
    help: 'Exits observed, by the kernel interface that gave the status.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset()
      for (const [source, count] of Object.entries(stats().bySource)) this.inc({ source }, count)
    },
  })
  new Counter({
    name: 'exitwatch_reaped_total',
    help: 'Processes exitwatch reaped: owned ones, and orphans as PID 1 / subreaper.',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset()
      this.inc({ kind: 'owned' }, stats().reapedOwned)
      this.inc({ kind: 'orphan' }, stats().reapedOrphans)
    },
  })
}
