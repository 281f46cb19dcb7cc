// After tsc: dist/cjs holds the code, as CommonJS inside a "type": "module" package, so mark
// it; dist/esm holds declarations, and each ESM entry of package.json's "exports" re-exports
// its CommonJS build, so that `import` and `require` share one copy of exitwatch (one monitor,
// one SIGCHLD listener, one set of child_process hooks, one ExitwatchError class) in a
// process. The declarations reach the generated binding.d.ts at the package root from one
// folder deeper than the sources did (src/ → dist/<format>/).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = new URL('../', import.meta.url)
const dist = new URL('dist/', root)
writeFileSync(new URL('cjs/package.json', dist), '{ "type": "commonjs" }\n')
for (const format of ['esm', 'cjs']) {
  for (const name of readdirSync(new URL(format, dist))) {
    if (!/\.d\.c?ts$/.test(name)) continue
    const file = new URL(`${format}/${name}`, dist)
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll("'../binding.js'", "'../../binding.js'"))
  }
}

const require = createRequire(import.meta.url)
const { exports } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
for (const target of Object.values(exports)) {
  if (typeof target === 'string') continue
  const esm = new URL(target.import.default, root)
  const cjs = new URL(target.require.default, root)
  const names = Object.keys(require(fileURLToPath(cjs))).join(', ')
  writeFileSync(esm, `export { ${names} } from '${relative(dirname(fileURLToPath(esm)), fileURLToPath(cjs))}'\n`)
  // Node finds a CommonJS module's names by reading its source: linking fails if it missed one.
  await import(esm.href)
}
