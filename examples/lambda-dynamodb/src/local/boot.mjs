// Worker-thread entry of a simulated container: TypeScript through tsx (with the repository's
// tsconfig, so @tokenstash/* resolve to sources), then the container itself.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register({ tsconfig: workerData.tsconfig })
await import(workerData.entry)
