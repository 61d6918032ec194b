// A worker thread of the suite runner. The sources are TypeScript run through tsx, so each
// worker registers the loader before importing them (the main thread's registration does not
// reach workers).
import { register } from 'tsx/esm/api';

register();
const { runOne } = await import('./run-one.ts');
export default runOne;
