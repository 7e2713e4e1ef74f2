package main

import (
	"io"
	"net"
	"time"
)

// startDelayProxy forwards TCP connections on loopback to target, holding
// back everything it carries by half of latency in each direction, so that
// every round trip takes latency longer, as on a distant link; it limits
// no throughput, and many requests may be in flight at once.
func startDelayProxy(target string, latency time.Duration) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go delayCopy(server, client, latency/2)
			go delayCopy(client, server, latency/2)
		}
	}()
	return ln, nil
}

type chunk struct {
	data []byte
	due  time.Time
}

// delayCopy copies src to dst, each chunk delay after it was read.
func delayCopy(dst, src net.Conn, delay time.Duration) {
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	if tcp, ok := dst.(*net.TCPConn); ok {
		tcp.CloseWrite()
	} else {
		dst.Close()
	}
	io.Copy(io.Discard, src)
}
