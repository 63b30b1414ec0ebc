package main

import (
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	out := "reference prints this\n" +
		`{"case": "step:mb2-ssd-lite/2:/tmp/x", "ms": [10.5, 12], "usage": [` +
		`{"minflt": 100, "majflt": 0, "user_ms": 20.5, "sys_ms": 1.5, "nivcsw": 3},` +
		`{"minflt": 300, "majflt": 1, "user_ms": 22, "sys_ms": 2.5, "nivcsw": 5}]}` + "\n\n"
	res, err := parseResult([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MS) != 2 || res.MS[1] != 12 || len(res.Usage) != 2 {
		t.Fatalf("got %+v", res)
	}
	if u := res.Usage[1]; u.MinFlt != 300 || u.MajFlt != 1 || u.UserMS != 22 || u.SysMS != 2.5 || u.InvCS != 5 {
		t.Errorf("second usage %+v", u)
	}
	// medians of two values are their mean
	if m := medianUsage(res.Usage); m.MinFlt != 200 || m.UserMS != 21.25 || m.InvCS != 4 {
		t.Errorf("median usage %+v", m)
	}

	for _, bad := range []string{
		"",
		"Traceback (most recent call last):\n  boom",
		`{"ms": [1, 2], "usage": [{"minflt": 1}]}`, // one count for two timings
		`{"ms": "fast"}`,
	} {
		if _, err := parseResult([]byte(bad)); err == nil {
			t.Errorf("parseResult(%q) accepted", bad)
		}
	}
	// the ops line of -ops and a timing without usage (eval) both parse
	if res, err := parseResult([]byte(`{"case": "x", "ops": {"aten::add_": 7}}`)); err != nil || res.Ops["aten::add_"] != 7 {
		t.Errorf("ops line: %+v, %v", res, err)
	}
	if res, err := parseResult([]byte(`{"case": "eval", "ms": [5]}`)); err != nil || res.Usage != nil {
		t.Errorf("timing without usage: %+v, %v", res, err)
	}
}

func TestUsageColumns(t *testing.T) {
	ours := []usage{{MinFlt: 950, UserMS: 10.4, SysMS: 0.4, InvCS: 2}}
	ref := []usage{{MinFlt: 123456, MajFlt: 2, UserMS: 30, SysMS: 250, InvCS: 4.5e6}}
	got := strings.Join(usageColumns(ours, ref), " ")
	if want := "950/123.5k 0/2 10/30 0/250 2/4.50M"; got != want {
		t.Errorf("columns %q, want %q", got, want)
	}
	if got := strings.Join(usageColumns(ours, nil), " "); got != "950/- 0/- 10/- 0/- 2/-" {
		t.Errorf("without the reference: %q", got)
	}
	if got := strings.Join(usageColumns(nil, ref), ""); got != "" {
		t.Errorf("without ours: %q", got)
	}
}

func TestMallocEnvironment(t *testing.T) {
	env := []string{"HOME=/h", "MALLOC_ARENA_MAX=4", "GLIBC_TUNABLES=glibc.malloc.mmap_max=0", "RUNNER_MALLOC=system", "MALLOCX=1", "PATH=/bin"}
	got := withoutMalloc(env)
	if strings.Join(got, " ") != "HOME=/h MALLOCX=1 PATH=/bin" {
		t.Errorf("withoutMalloc: %q", got)
	}
	if len(env) != 6 {
		t.Error("withoutMalloc changed its argument")
	}
	if !sameSet("A=1 B=2", "B=2 A=1") || sameSet("A=1", "A=1 B=2") || sameSet("A=1 B=3", "A=1 B=2") {
		t.Error("sameSet")
	}
	if got := withoutRunner("RUNNER_MALLOC=system MALLOC_ARENA_MAX=1"); got != "MALLOC_ARENA_MAX=1" {
		t.Errorf("withoutRunner: %q", got)
	}
}
