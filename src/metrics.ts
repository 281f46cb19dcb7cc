// Optional Prometheus metrics (prom-client is a peer dependency, loaded only by this entry).
import { Counter, Gauge, type Registry } from 'prom-client'
import { ExitMonitor, type Stats } from './monitor.js'

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
  const gauge = (name: string, help: string, read: (s: Stats) => number): void => {
    new Gauge({ name, help, registers, collect() { this.set(read(stats())) } })
  }
  const counter = (name: string, help: string, read: (s: Stats) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset()
        this.inc(read(stats()))
      },
    })
  }

  gauge('exitwatch_watched_processes', 'Processes watched now.', (s) => s.watched)
  gauge('exitwatch_subscriptions', 'Open subscriptions (iterators, pre-start subscriptions, listeners).', (s) => s.subscriptions)
  gauge('exitwatch_queue_depth', 'Exits queued for consumers and not taken yet.', (s) => s.queueDepth)
  gauge('exitwatch_queue_depth_max', 'Most exits ever queued at once.', (s) => s.queueDepthMax)
  gauge('exitwatch_pending_statuses', 'Exits seen whose status is not readable yet.', (s) => s.pendingStatuses)
  gauge('exitwatch_monitor_thread_up', 'Whether the monitor thread is alive (1) or not (0).', (s) => (s.monitorThreadAlive ? 1 : 0))
  gauge('exitwatch_open_fds', 'Open file descriptors of the process.', (s) => s.descriptorsInUse)
  counter('exitwatch_monitor_thread_restarts_total', 'Times the monitor thread was restarted after dying.', (s) => s.monitorThreadRestarts)
  counter('exitwatch_wakeups_total', 'Times the monitor thread woke up.', (s) => s.wakeups)
  counter('exitwatch_unknown_statuses_total', 'Exits whose status no kernel source had.', (s) => s.unknownStatuses)
  counter('exitwatch_listener_errors_total', 'Exit listeners that threw (this thread).', (s) => s.listenerErrors)
  counter('exitwatch_poison_recoveries_total', 'Poisoned locks recovered.', (s) => s.poisonRecoveries)
  counter('exitwatch_fallback_exits_total', 'Exits observed by the poll engine (no pidfds).', (s) => s.fallbackExits)
  gauge('exitwatch_proc_connector_listening', 'Whether the proc connector socket is open (1) or not (0).', (s) => (s.procConnectorListening ? 1 : 0))
  counter('exitwatch_proc_connector_events_total', 'Process events read from the proc connector.', (s) => s.procConnectorEvents)
  counter('exitwatch_proc_connector_overruns_total', 'Proc connector socket overflows (events lost; other sources used).', (s) => s.procConnectorOverruns)
  counter('exitwatch_proc_connector_failures_total', 'Times the proc connector could not be opened or read.', (s) => s.procConnectorFailures)
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
