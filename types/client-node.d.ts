// The types of "#client-node" (package.json "imports"): the package's own, plus the generated models'
// ObjectSerializer, which the bundle (scripts/bundle.js) exports beside them.
export * from '@kubernetes/client-node';
export { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
