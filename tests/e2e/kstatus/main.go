// kstatus reads Kubernetes objects as JSON (one per line) on standard input and prints, per
// object, the status that sigs.k8s.io/cli-utils' kstatus computes for it: what Flux, kpt and
// `kubectl wait`-style tooling see. Built by build.sh from the pinned module; used by the e2e
// suite on objects the operator wrote.
package main

import (
	"bufio"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		// Unstructured's own decoder keeps integers int64, as kstatus expects of generations.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(in.Bytes()); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: bad object:", err)
			os.Exit(2)
		}
		res, err := status.Compute(obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		fmt.Printf("%s\t%s\n", res.Status, res.Message)
	}
}
