#!/usr/bin/env node
// The one executable. Runs the compiled CLI; `npm run build` produces dist/.
import '../dist/src/cli/main.js';
