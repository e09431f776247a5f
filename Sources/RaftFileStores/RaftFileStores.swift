// RaftFileStores: crash-safe stores on the local disk.
//
//   FileSystem/     the file operations the stores use, behind a protocol so tests can inject
//                   faults (a full disk, a refused permission, a crash in the middle of a write)
//   Errors/         FileStoreError, the one error type of this module
