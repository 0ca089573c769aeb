// Lint: typescript-eslint's recommended rules; unused variables are errors unless prefixed with _.
// Imports run one way (README "Layout"): api → kv → cluster → raft / storage / transport / membership, never
// back up; src/node (the composition root) and src/cli sit above them all; src/util is a leaf. Outside src:
// testkit (the tools test/, bench/ and chaos/ share) imports src only, and bench/ and chaos/ never import test/.
import tseslint from 'typescript-eslint';

/** A relative import that climbs, then enters one of `dirs`: `../dir/…`, `../../dir/…` (e.g. src/kv from src/api/http). */
const into = (dirs) => `^(\\.\\./)+(${dirs.join('|')})(/|$)`;

/**
 * Files under `dir` (a path from the repository's root) may not import from `forbidden`, directories reached by
 * climbing out of the importing file: 'kv' is src/kv for a file under src, 'test' is test/ for a file under bench.
 * Static imports and re-exports through no-restricted-imports; dynamic import() through no-restricted-syntax.
 */
function restrict(dir, forbidden, why) {
  const regex = into(forbidden);
  const message = `${dir} may not import from ${forbidden.join(', ')}: ${why}`;
  // esquery's regex literals cannot hold a '/', so the selector spells it \x2F.
  return {
    files: [`${dir}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex, message }] }],
      'no-restricted-syntax': ['error', { selector: `ImportExpression > Literal[value=/${regex.replaceAll('/', '\\x2F')}/]`, message }],
    },
  };
}

/** Files under src/`dir` may not import from `forbidden` (directories of src, e.g. 'kv', 'api'). */
const layer = (dir, forbidden, why) => restrict(`src/${dir}`, forbidden, why);

const ABOVE_CLUSTER = ['cluster', 'kv', 'api', 'cli', 'node'];
const frontEnd = (self) => {
  const others = ['http', 'grpc', 'text'].filter((d) => d !== self);
  // From src/api/<self>: siblings are `../grpc/…`, or `../../api/grpc/…`.
  return layer(`api/${self}`, ['cli', 'node', ...others, ...others.map((d) => `api/${d}`)], 'front ends share code through src/api/shared and import nothing above api');
};

export default tseslint.config(
  // src/api/grpc/gen: protobuf-es output (npm run proto), not written here.
  { ignores: ['node_modules/**', 'data/**', 'bench/results/**', 'src/api/grpc/gen/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  layer('raft', ABOVE_CLUSTER, 'the bottom layer imports nothing above it'),
  layer('storage', ABOVE_CLUSTER, 'the bottom layer imports nothing above it'),
  layer('transport', ABOVE_CLUSTER, 'the bottom layer imports nothing above it'),
  layer('membership', ABOVE_CLUSTER, 'the bottom layer imports nothing above it'),
  layer('cluster', ['kv', 'api', 'cli', 'node'], 'cluster sits below kv; types every layer shares go in src/cluster/types.ts or src/util'),
  layer('kv', ['api', 'cli', 'node'], 'kv sits below the front ends'),
  layer('api/shared', ['cli', 'node', 'http', 'grpc', 'text', 'api/http', 'api/grpc', 'api/text'], 'the front ends import shared code, not the other way'),
  frontEnd('http'),
  frontEnd('grpc'),
  frontEnd('text'),
  layer('node', ['cli'], 'the CLI starts the node; the node does not depend on the CLI'),
  layer('util', ['[^/]+'], 'src/util is a leaf every layer imports; it imports nothing of ours'),
  layer('shard', ['raft', 'storage', 'transport', 'membership', 'cluster', 'kv', 'api', 'cli', 'node'], 'shard placement is pure: it depends on nothing but src/util'),
  restrict('testkit', ['test', 'bench', 'chaos'], 'testkit holds the tools test/, bench/ and chaos/ share; it may import src, never its users'),
  restrict('bench', ['test'], 'bench/ imports shared tools from testkit/, not from test/'),
  restrict('chaos', ['test'], 'chaos/ imports shared tools from testkit/, not from test/'),
);
