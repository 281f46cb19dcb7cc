// Packs what would be published: the main package (JavaScript, declarations, CLI, loader; it
// depends optionally on one package per target) and the host's prebuilt-binary package.
// Prints the two tarball paths. Run after `npm run build`.
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'pack')
const stage = join(out, 'stage')
rmSync(out, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const pack = (dir) => execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop()

// The host's binary package (napi-rs layout: npm/<platform>/<binaryName>.<platform>.node).
const host = 'linux-x64-gnu'
const binary = `${pkg.napi.binaryName}.${host}.node`
if (!existsSync(join(root, binary))) throw new Error(`${binary} is missing: run npm run build first`)
copyFileSync(join(root, binary), join(root, 'npm', host, binary))
const platformTarball = pack(join(root, 'npm', host))

// The main package, as published: no scripts or dev tooling, one optional dependency per target.
for (const file of pkg.files) cpSync(join(root, file), join(stage, file), { recursive: true })
const targets = ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl']
const published = { ...pkg, optionalDependencies: Object.fromEntries(targets.map((t) => [`${pkg.name}-${t}`, pkg.version])) }
delete published.scripts
delete published.devDependencies
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
const mainTarball = pack(stage)
console.log(join(out, mainTarball))
console.log(join(out, platformTarball))
