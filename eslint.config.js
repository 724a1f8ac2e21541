// Lint rules follow the project's style guide: strict TypeScript, no stray console output in
// library code (commands return their output), no floating promises in the collector paths.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'kubetrail-data/**', '.tmp/**', 'scripts/gen-audit.mjs'] /* a research tool kept as it was written */ },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Entry points, scripts, benchmarks and tests may print.
    files: ['src/cli/main.ts', 'scripts/**', 'bench/**', '**/*.test.ts', 'test/**'],
    rules: { 'no-console': 'off' },
  },
)
