// Command podload creates Pods through the API server at a fixed concurrency and prints the
// latency of each creation (JSON on stdout). It is the benchmark's client: in Go so that the
// client's own CPU barely competes with what is measured on a small machine.
//
// Bounded twice: at most -count Pods and at most -duration; it stops at whichever comes first.
// One HTTP/2 connection to the API server is reused for every request, as client-go does.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Created    int       `json:"created"`
	Errors     int       `json:"errors"`
	FirstError string    `json:"firstError,omitempty"`
	Seconds    float64   `json:"seconds"`
	Latencies  []float64 `json:"latencies"` // seconds, one per created Pod
}

func main() {
	server := flag.String("server", "", "API server URL")
	caFile := flag.String("ca", "", "API server CA file")
	certFile := flag.String("cert", "", "client certificate file")
	keyFile := flag.String("key", "", "client key file")
	namespace := flag.String("namespace", "default", "namespace to create Pods in")
	podFile := flag.String("pod", "", "Pod JSON (metadata.name is replaced)")
	prefix := flag.String("prefix", "bench", "Pod name prefix")
	count := flag.Int("count", 100, "Pods to create at most")
	concurrency := flag.Int("concurrency", 1, "requests in flight")
	duration := flag.Duration("duration", time.Minute, "stop after this long")
	flag.Parse()

	ca, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: *concurrency,
	}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	raw, err := os.ReadFile(*podFile)
	if err != nil {
		log.Fatal(err)
	}
	var pod map[string]any
	if err := json.Unmarshal(raw, &pod); err != nil {
		log.Fatal(err)
	}
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/pods", *server, *namespace)

	var next atomic.Int64
	var mu sync.Mutex
	out := result{Latencies: make([]float64, 0, *count)}
	deadline := time.Now().Add(*duration)
	started := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*count) || time.Now().After(deadline) {
					return
				}
				body := bodyFor(pod, fmt.Sprintf("%s-%06d", *prefix, i))
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				var status int
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				elapsed := time.Since(t0).Seconds()
				mu.Lock()
				if err == nil && status == http.StatusCreated {
					out.Created++
					out.Latencies = append(out.Latencies, elapsed)
				} else {
					out.Errors++
					if out.FirstError == "" {
						out.FirstError = fmt.Sprintf("status %d, %v", status, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out.Seconds = time.Since(started).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
}

func bodyFor(pod map[string]any, name string) []byte {
	metadata, _ := pod["metadata"].(map[string]any)
	copied := make(map[string]any, len(metadata)+1)
	for k, v := range metadata {
		copied[k] = v
	}
	copied["name"] = name
	shallow := make(map[string]any, len(pod))
	for k, v := range pod {
		shallow[k] = v
	}
	shallow["metadata"] = copied
	body, err := json.Marshal(shallow)
	if err != nil {
		log.Fatal(err)
	}
	return body
}
