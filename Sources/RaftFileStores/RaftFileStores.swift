// RaftFileStores: crash-safe stores on the local disk.
//
//   FileSystem/     the file operations the stores use, behind a protocol so tests can inject
//                   faults (a full disk, a refused permission, a crash in the middle of a write)
//   Errors/         FileStoreError, the one error type of this module
//   Checksums/      CRC-64 (hashicorp/raft's snapshot checksum, Go's crc64.ECMA table)
//   LogStore/       FileLogStore: a segmented, preallocated write-ahead log with group commit,
//                   crash recovery of a torn tail, and reads that never wait for a write's I/O;
//                   its records and headers carry CRC-32C (Checksums/CRC32C.swift)
//   StableStore/    FileStableStore: an append-only file of checksummed key/value records,
//                   replayed into memory on open and compacted by rewrite-and-rename
//   SnapshotStore/  FileSnapshotStore: hashicorp/raft's on-disk snapshot layout
//                   (<base>/snapshots/<term>-<index>-<ms>/{meta.json,state.bin}), with a
//                   Go-identical meta.json writer and reader
