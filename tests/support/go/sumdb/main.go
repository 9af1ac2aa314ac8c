// Command sumdb is a checksum database for tests, on loopback: golang.org/x/mod's own server and
// tree code (sumdb.NewTestServer), with a fresh signing key each run, vouching for the modules in a
// GOPROXY-layout directory. The hashes come from x/mod's dirhash, so the module cache's Python port
// of them is checked against the reference, and go itself verifies every answer with the key.
//
// It prints one JSON line, {"url": ..., "key": ...}, then serves until killed:
//
//	/lookup/..., /latest, /tile/...                 the database itself (GOSUMDB="<key> <url>")
//	/sumdb/<name>/supported, /sumdb/<name>/...      the same, as a proxy that supports it
//
// Every request is logged to stderr as "GET <path> <status>".
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
)

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	name := flag.String("name", "127.0.0.1:9", "database name (a name go never resolves, should it try)")
	root := flag.String("root", "", "GOPROXY-layout directory of the modules the database vouches for")
	fill := flag.Int("fill", 0, "records of made-up modules to add first, so proofs span several tiles")
	flag.Parse()

	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err != nil {
		log.Fatal(err)
	}
	gosum := func(path, vers string) ([]byte, error) {
		if strings.HasPrefix(path, "filler.test/") {
			return []byte(fmt.Sprintf("%s %s h1:filler=\n%s %s/go.mod h1:filler=\n", path, vers, path, vers)), nil
		}
		return hashes(*root, path, vers)
	}
	ts := sumdb.NewTestServer(skey, gosum)
	for i := 0; i < *fill; i++ {
		m := module.Version{Path: fmt.Sprintf("filler.test/m%d", i), Version: "v1.0.0"}
		if _, err := ts.Lookup(context.Background(), m); err != nil {
			log.Fatal(err)
		}
	}
	db := sumdb.NewServer(ts)
	prefix := "/sumdb/" + *name
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		switch {
		case r.URL.Path == prefix+"/supported":
		case strings.HasPrefix(r.URL.Path, prefix+"/"):
			http.StripPrefix(prefix, db).ServeHTTP(rec, r)
		default:
			db.ServeHTTP(rec, r)
		}
		log.Printf("%s %s %d", r.Method, r.URL.Path, rec.status)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.Marshal(map[string]string{"url": "http://" + ln.Addr().String(), "key": vkey})
	fmt.Println(string(out))
	log.SetFlags(0)
	log.Fatal(http.Serve(ln, mux))
}

// hashes is the go.sum text for path@vers, from the files under root (404 when absent).
func hashes(root, path, vers string) ([]byte, error) {
	epath, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	evers, err := module.EscapeVersion(vers)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(root, filepath.FromSlash(epath), "@v", evers)
	if _, err := os.Stat(base + ".mod"); err != nil {
		return nil, err // os.IsNotExist: the server answers 404
	}
	zipHash, err := dirhash.HashZip(base+".zip", dirhash.Hash1)
	if err != nil {
		return nil, err
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return os.Open(base + ".mod")
	})
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, zipHash, path, vers, modHash)), nil
}
