// The action's entry point, as the runner starts it: `node dist/index.js` with INPUT_* variables.
import { run } from './main.js';

void run();
