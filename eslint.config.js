// Lint: typescript-eslint's recommended rules; unused variables are errors unless prefixed with _.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // src/api/grpc/gen: protobuf-es output (npm run proto), not written here.
  { ignores: ['node_modules/**', 'data/**', 'bench/results/**', 'src/api/grpc/gen/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
