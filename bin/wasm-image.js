#!/usr/bin/env node
// The CLI, from the same bundled core as the action.
import '../dist/cli/index.js';
