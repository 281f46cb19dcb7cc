import { constants } from 'node:os'
import { invalid } from './errors.js'

const byNumber = new Map<number, NodeJS.Signals>()
for (const [name, number] of Object.entries(constants.signals)) {
  if (!byNumber.has(number)) byNumber.set(number, name as NodeJS.Signals)
}

export function signalName(signal: number): NodeJS.Signals | `SIG${number}` {
  return byNumber.get(signal) ?? `SIG${signal}`
}

/** A signal given by name ('SIGTERM') or number (15), checked. */
export function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal >= 0 && signal <= 64) return signal
    throw invalid(`${signal} is not a signal number (0..64)`)
  }
  const number = (constants.signals as Record<string, number | undefined>)[signal]
  if (number === undefined) throw invalid(`${String(signal)} is not a signal name this system knows`)
  return number
}
