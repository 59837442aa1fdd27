//go:build !unix

package witness

import (
	"io"
	"os"
)

// lockFile creates path, without locking it: on this system nothing keeps
// a second witness process off the same state file.
func lockFile(path string) (io.Closer, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
