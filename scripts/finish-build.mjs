// After tsc: dist/cjs holds CommonJS inside a "type": "module" package, so mark it; and the
// declarations reach the generated binding.d.ts at the package root from one folder deeper
// than the sources did (src/ → dist/<format>/).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

const dist = new URL('../dist/', import.meta.url)
writeFileSync(new URL('cjs/package.json', dist), '{ "type": "commonjs" }\n')
for (const format of ['esm', 'cjs']) {
  for (const name of readdirSync(new URL(format, dist))) {
    if (!/\.d\.c?ts$/.test(name)) continue
    const file = new URL(`${format}/${name}`, dist)
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll("'../binding.js'", "'../../binding.js'"))
  }
}
