// Command goguest is a Go program whose module TestGoModule merges: what
// the Go linker makes of a program's data (tables, strings, the runtime's
// own) is what the broker's Go adapters carry.
package main

import (
	"fmt"
	"os"
	"strings"
)

var months = map[string]int{"gener": 1, "febrer": 2, "març": 3, "abril": 4, "maig": 5, "juny": 6}

var table = [...]uint32{1, 0, 0, 0, 2, 0, 0, 3, 0, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 6}

func main() {
	fmt.Fprintln(os.Stdout, strings.ToUpper("pont"), months[os.Args[0]], table[len(os.Args)])
}
