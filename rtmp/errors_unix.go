package rtmp

import "syscall"

// errTooManyFiles is what accept returns when the process is out of file
// descriptors; it is temporary and worth a retry.
var errTooManyFiles = syscall.EMFILE
