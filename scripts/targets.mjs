// The declared targets (package.json's napi.targets, read by the built loader) and where the
// build puts each one's binary, for the build, pack and check scripts.
// As a command, prints fields of each target, one target per line:
// `node scripts/targets.mjs platform prebuilt` (fields of a target, or `prebuilt`: its binary).
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
export const binaryName = pkg.napi.binaryName

const loader = join(root, 'dist/cjs/load-binding.cjs')
let built
try {
  built = createRequire(import.meta.url)(loader)
} catch (error) {
  throw new Error(`${loader} could not be loaded: run npm run build first (${error.message.split('\n')[0]})`)
}
/** @type {Array<{ triple: string, platform: string, cpu: string, libc: 'glibc' | 'musl' }>} */
export const TARGETS = built.TARGETS
/** The declared target of the Node running this script, or undefined. */
export const runningTarget = built.runningTarget

/** Where `npm run build:targets` puts a target's binary. */
export const prebuilt = (target) => join(root, 'prebuilds', target.platform, `${binaryName}.${target.platform}.node`)

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fields = process.argv.length > 2 ? process.argv.slice(2) : ['platform']
  for (const target of TARGETS) console.log(fields.map((f) => (f === 'prebuilt' ? prebuilt(target) : target[f])).join(' '))
}
