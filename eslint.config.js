// ESLint flat config: the recommended JavaScript rules plus typescript-eslint's type-checked rules for the
// sources, tests, benchmark and scripts (typed by tsconfig.check.json); plain .js/.mjs files get untyped rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'lib/', 'node_modules/', 'out/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['__tests__/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests read JSON documents (manifests, configs) whose shape is what they assert.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // vitest types its asymmetric matchers (expect.any, expect.stringMatching, expect.objectContaining) as
      // `any`, and expected values are built from them; reading an `any` (member access, call, argument,
      // return) stays an error, so JSON a test reads still goes through the typed helpers in helpers/json.ts.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Test doubles implement async interfaces (cache client, host, retry attempts): `async` makes their
      // throws rejections, as the real implementations' are, whether or not they await anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
