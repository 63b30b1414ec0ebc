package detect

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestGateExclusive: with the forward pass taking every core, work beside it waits for
// the forward pass in progress, and the next forward pass waits for the work beside it
// that has started.
func TestGateExclusive(t *testing.T) {
	g := &gate{exclusive: true}
	var inForward atomic.Bool
	release := make(chan struct{})
	started := make(chan struct{})
	go g.forward(func() {
		inForward.Store(true)
		close(started)
		<-release
		inForward.Store(false)
	})
	<-started
	ran := make(chan bool)
	go g.beside(func() { ran <- inForward.Load() })
	select {
	case <-ran:
		t.Fatal("the work beside ran during the forward pass")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if during := <-ran; during {
		t.Error("the work beside saw the forward pass still running")
	}

	// Work beside that has started holds the next forward pass back until it ends.
	holding, done := make(chan struct{}), make(chan struct{})
	var besideRunning atomic.Bool
	go g.beside(func() {
		besideRunning.Store(true)
		close(holding)
		<-done
		besideRunning.Store(false)
	})
	<-holding
	fwd := make(chan bool)
	go g.forward(func() { fwd <- besideRunning.Load() })
	select {
	case <-fwd:
		t.Fatal("the forward pass ran while work beside it was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(done)
	if during := <-fwd; during {
		t.Error("the forward pass saw the work beside still running")
	}
}

// TestGateShared: with a core to spare, nothing waits: work beside runs during a forward
// pass, and two pieces of work beside run together in either mode.
func TestGateShared(t *testing.T) {
	g := &gate{}
	release := make(chan struct{})
	started := make(chan struct{})
	go g.forward(func() {
		close(started)
		<-release
	})
	<-started
	ran := make(chan struct{})
	go g.beside(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the work beside waited for the forward pass though a core is spare")
	}
	close(release)

	for _, exclusive := range []bool{false, true} {
		g := &gate{exclusive: exclusive}
		first, second := make(chan struct{}), make(chan struct{})
		go g.beside(func() {
			close(first)
			<-second // ends only once the second one runs
		})
		<-first
		go g.beside(func() { close(second) })
		select {
		case <-second:
		case <-time.After(10 * time.Second):
			t.Fatalf("exclusive=%v: two pieces of work beside the forward pass did not run together", exclusive)
		}
	}
}
