// Command goproxy serves a directory in GOPROXY layout (a module cache's cache/download tree) over
// plain HTTP, read-only, and logs every request with the client's address: the local cluster's
// stand-in for a corporate module mirror, so `make run`'s example builds download real modules
// without reaching any public name, and the log shows which Pod asked for what.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
	root := flag.String("root", "/modules", "directory in GOPROXY layout")
	addr := flag.String("addr", ":8080", "listen address")
	latency := flag.Duration("latency", 0, "wait this long before answering each module request "+
		"(a stand-in for an upstream across a WAN; tests only)")
	flag.Parse()

	files := http.FileServer(http.Dir(*root))
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		clean := path.Clean("/" + req.URL.Path)
		switch {
		case req.Method != http.MethodGet && req.Method != http.MethodHead:
			http.Error(rec, "read-only module proxy", http.StatusMethodNotAllowed)
		case clean == "/healthz":
			_, _ = rec.Write([]byte("ok\n"))
		case strings.HasSuffix(clean, "/") || isDir(filepath.Join(*root, filepath.FromSlash(clean))):
			// A module proxy answers files only; directory listings would leak the layout.
			http.NotFound(rec, req)
		default:
			time.Sleep(*latency)
			files.ServeHTTP(rec, req)
		}
		client, _, _ := net.SplitHostPort(req.RemoteAddr)
		if clean != "/healthz" {
			log.Printf("%s %s %s %d", client, req.Method, req.URL.Path, rec.status)
		}
	})

	server := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = server.Close()
	}()
	log.Printf("serving %s on %s", *root, *addr)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func isDir(name string) bool {
	info, err := os.Stat(name)
	return err == nil && info.IsDir()
}
