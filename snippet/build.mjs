// Builds dist/ from src/: terser, then a header naming the source's hash, so a test
// without Node (tests/snippet/test_build.py) can prove dist/ is fresh.
//   cd snippet && npm ci && node build.mjs      (or: python snippet/build.py, which also prints
//                                                 the gzipped sizes as the collector serves them)
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { minify } from 'terser';

const here = new URL('.', import.meta.url);
mkdirSync(new URL('dist/', here), { recursive: true });

// The sources are plain readable code; these options make them small. Measured on src/ctr.js
// (gzipped as served): `passes` beyond 1, `toplevel` and `module` change nothing, since each
// file is one arrow function whose locals are mangled anyway. Left out on purpose:
// `booleans_as_integers` (it would send `via_click: 1`, which the collector refuses), the
// `unsafe_*` comparisons (a zero-sized element's visible share is NaN), and property
// mangling (a few bytes, and the debug overlay reads the core's state by name; see README.md).
const options = {
  ecma: 2021,
  compress: { passes: 3, unsafe_arrows: true, pure_getters: true },
  mangle: true,
};

for (const name of ['ctr.js', 'ctr-debug.js', 'ctr-overlay.js']) {
  const source = readFileSync(new URL(`src/${name}`, here));
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const { code } = await minify(source.toString(), {
    ...options,
    format: { comments: false, preamble: `/*! ctrlens ${hash} */` },
  });
  const built = code + '\n';
  writeFileSync(new URL(`dist/${name}`, here), built);
  console.log(`dist/${name}: ${Buffer.byteLength(built)} B`);
}
