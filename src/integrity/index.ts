/**
 * @module Tamper evidence beyond the data directory (docs/integrity.md): signed checkpoints of
 * the store's Merkle tree (src/store/merkle.ts), their anchors outside the store, verification
 * against them, and proofs for single events. Above the store, beside query and detection.
 */
export { checkpointsIn, checkpointHash, checkpointLogLine, defaultKeyPath, formatPrivateKey, generateSigner, loadOrCreateSigner, originOf, parseCheckpoint, parsePrivateKey, parsePublicKey, publicKeyPathOf, signCheckpoint, signedBy, type Checkpoint, type SignedCheckpoint, type Signer, type Verifier } from './checkpoint.js'
export { directoryAnchor, httpAnchor, logAnchor, type Anchor } from './anchors.js'
export { Checkpointer, writeCheckpoint, type CheckpointerOptions, type WrittenCheckpoint } from './checkpointer.js'
export { verifyIntegrity, type CheckpointResult, type GivenCheckpoint, type IntegrityProblem, type IntegrityReport } from './verify.js'
export { checkProof, parseProof, proveConsistency, proveEvent, ProofError, type ConsistencyProof, type InclusionProof, type Proof, type ProofCheck } from './proof.js'
export { loadCheckpoints } from './sources.js'
