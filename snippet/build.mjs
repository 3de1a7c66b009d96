// Builds dist/ from src/: terser, then a header naming the source's hash, so a test
// without Node (tests/snippet/test_build.py) can prove dist/ is fresh.
//   cd snippet && npm ci && node build.mjs      (or: python snippet/build.py)
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

const here = new URL('.', import.meta.url);
mkdirSync(new URL('dist/', here), { recursive: true });

for (const name of ['ctr.js', 'ctr-debug.js']) {
  const source = readFileSync(new URL(`src/${name}`, here));
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const { code } = await minify(source.toString(), {
    ecma: 2021,
    compress: { passes: 3, unsafe_arrows: true, pure_getters: true },
    mangle: true,
    format: { comments: false, preamble: `/*! ctrlens ${hash} */` },
  });
  const built = code + '\n';
  writeFileSync(new URL(`dist/${name}`, here), built);
  const gz = gzipSync(built, { level: 9 }).length;
  console.log(`dist/${name}: ${built.length} B, ${gz} B gzipped (-9)`);
}
