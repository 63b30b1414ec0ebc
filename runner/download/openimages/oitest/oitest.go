// Package oitest makes a small fake Open Images release and serves it over HTTP, for the
// tests of the downloader and of the commands that use it. It is test support: no product
// code imports it.
package oitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// Classes are the fake release's boxable classes: LabelName, ClassName. One name has a
// comma (quoted in the CSV), as some real ones do.
var Classes = [][2]string{
	{"/m/0gxl3", "Handgun"},
	{"/m/06nrc", "Shotgun"},
	{"/m/04ctx", "Knife"},
	{"/m/06c54", "Rifle"},
	{"/m/01g317", "Person"},
	{"/m/02jnhm", "Tin can"},
	{"/m/0fake1", "Table, desk"},
}

// Header is the annotation files' header, as in the 2018_04 release.
const Header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside"

// ImagesPerSplit are the number of images of each split of NewRelease.
var ImagesPerSplit = map[string]int{"train": 60, "validation": 24, "test": 24}

// Release is a fake release: its files by URL path below the server's /release/ and
// /images/ prefixes.
type Release struct {
	Descriptions []byte
	Annotations  map[string][]byte // split → <split>-annotations-bbox.csv
	Images       map[string][]byte // "<split>/<ImageID>.jpg" → JPEG
}

// NewRelease builds the fake release of seed: ImagesPerSplit images per split, each with
// one to six boxes of random classes (about one in eight a group box, one in eight a
// depiction; the validation and test files use -1 and empty flags now and then, as the real
// ones do), and a small JPEG per image.
func NewRelease(seed int64) *Release {
	r := &Release{Annotations: map[string][]byte{}, Images: map[string][]byte{}}
	var d bytes.Buffer
	for _, c := range Classes {
		name := c[1]
		if strings.Contains(name, ",") {
			name = `"` + name + `"`
		}
		fmt.Fprintf(&d, "%s,%s\n", c[0], name)
	}
	r.Descriptions = d.Bytes()
	for s, split := range []string{"train", "validation", "test"} {
		g := rng.New(seed).Index(s).SplitMix64()
		var b bytes.Buffer
		b.WriteString(Header + "\n")
		for i := range ImagesPerSplit[split] {
			id := fmt.Sprintf("%016x", g.Uint64())
			id = string(rune('a'+i%6)) + id[1:] // a letter, so that pandas reads the column as text
			r.Images[split+"/"+id+".jpg"] = makeJPEG(g.Uint64())
			for range g.Between(1, 6) {
				c := Classes[g.IntN(len(Classes))]
				x0, y0 := g.Uniform(0, 0.7), g.Uniform(0, 0.7)
				x1, y1 := x0+g.Uniform(0.05, 0.3), y0+g.Uniform(0.05, 0.3)
				flag := func(p float64) string {
					switch {
					case g.Chance(p):
						return "1"
					case split != "train" && g.Chance(0.1):
						return "-1"
					case split != "train" && g.Chance(0.05):
						return ""
					}
					return "0"
				}
				fmt.Fprintf(&b, "%s,xclick,%s,1,%.6f,%.6f,%.6f,%.6f,%s,%s,%s,%s,%s\n", id, c[0], x0, x1, y0, y1,
					flag(0.3), flag(0.2), flag(0.125), flag(0.125), flag(0.05))
			}
		}
		r.Annotations[split] = b.Bytes()
	}
	return r
}

func makeJPEG(s uint64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(s >> 8 * uint64(x)), uint8(s >> 16 * uint64(y)), uint8(s), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// Server serves a Release: /release/class-descriptions-boxable.csv,
// /release/<split>/<split>-annotations-bbox.csv and /images/<split>/<ImageID>.jpg, with
// range requests and ETags. Its faults are set before the requests they concern.
type Server struct {
	*httptest.Server
	Release *Release

	mu sync.Mutex
	// Fail5xx: the first N requests of a path get 503 (the first one with Retry-After: 0).
	Fail5xx map[string]int
	// Drop: the first N GETs of a path send half the body and close the connection.
	Drop map[string]int
	// NotFound paths get 404 although the release has them.
	NotFound map[string]bool
	// Delay is slept before answering each image request (to test cancellation).
	Delay  time.Duration
	gets   map[string]int
	heads  map[string]int
	ranges int
}

// NewServer starts a server of rel.
func NewServer(rel *Release) *Server {
	s := &Server{Release: rel, Fail5xx: map[string]int{}, Drop: map[string]int{}, NotFound: map[string]bool{},
		gets: map[string]int{}, heads: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL and ImagesURL are the downloader's URLs of the server.
func (s *Server) BaseURL() string   { return s.URL + "/release" }
func (s *Server) ImagesURL() string { return s.URL + "/images" }

// Gets returns the number of GET requests of each path so far (a copy).
func (s *Server) Gets() map[string]int { return s.copyCounts(s.gets) }

// Heads returns the number of HEAD requests of each path so far (a copy).
func (s *Server) Heads() map[string]int { return s.copyCounts(s.heads) }

func (s *Server) copyCounts(m map[string]int) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Ranges is the number of requests with a Range header so far (resumed transfers).
func (s *Server) Ranges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ranges
}

// ImageGets is the number of GETs of images so far.
func (s *Server) ImageGets() int {
	n := 0
	for p, k := range s.Gets() {
		if strings.HasPrefix(p, "/images/") {
			n += k
		}
	}
	return n
}

func (s *Server) content(path string) ([]byte, bool) {
	if rest, ok := strings.CutPrefix(path, "/images/"); ok {
		b, ok := s.Release.Images[rest]
		return b, ok
	}
	rest, ok := strings.CutPrefix(path, "/release/")
	if !ok {
		return nil, false
	}
	if rest == "class-descriptions-boxable.csv" {
		return s.Release.Descriptions, true
	}
	split, name, _ := strings.Cut(rest, "/")
	if b, ok := s.Release.Annotations[split]; ok && name == split+"-annotations-bbox.csv" {
		return b, true
	}
	return nil, false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	s.mu.Lock()
	if r.Method == http.MethodHead {
		s.heads[p]++
	} else {
		s.gets[p]++
	}
	if r.Header.Get("Range") != "" {
		s.ranges++
	}
	fail, drop, notFound, delay := s.Fail5xx[p] > 0, false, s.NotFound[p], s.Delay
	if fail {
		s.Fail5xx[p]--
		if s.Fail5xx[p] == 0 {
			w.Header().Set("Retry-After", "0")
		}
	}
	if !fail && r.Method == http.MethodGet && s.Drop[p] > 0 {
		s.Drop[p]--
		drop = true
	}
	s.mu.Unlock()
	if delay > 0 && strings.HasPrefix(p, "/images/") {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		http.Error(w, "slow down", http.StatusServiceUnavailable)
		return
	}
	body, ok := s.content(p)
	if !ok || notFound {
		http.NotFound(w, r)
		return
	}
	if drop {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	sum := sha256.Sum256(body)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
