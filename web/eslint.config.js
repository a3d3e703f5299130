import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['src/**/*.ts'], languageOptions: { globals: globals.browser } },
  { files: ['e2e/**/*.mjs', '*.config.*', 'test/**/*.ts'], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
);
