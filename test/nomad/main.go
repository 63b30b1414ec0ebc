// Command nomadcheck parses a Nomad job file with Nomad's own job parser (jobspec2, the
// parser of `nomad job run`), in strict mode, and checks the shape of a sweep's job as
// `runner sweep emit --to nomad` writes it: a batch job with one task group per trial,
// each running `runner apply … --trial <its id>` and a poststop report task.
//
// It is a module of its own so that Nomad's dependencies stay out of the product's go.mod:
//
//	cd test/nomad && GOWORK=off go run . JOB_FILE TRIALS
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
	"github.com/hashicorp/nomad/jobspec2"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: nomadcheck JOB_FILE TRIALS")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "nomadcheck:", err)
		os.Exit(1)
	}
}

func check(path, trials string) error {
	n, err := strconv.Atoi(trials)
	if err != nil {
		return fmt.Errorf("TRIALS %q: %w", trials, err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	job, err := jobspec2.ParseWithConfig(&jobspec2.ParseConfig{Path: path, Body: src, AllowFS: false, Strict: true})
	if err != nil {
		return fmt.Errorf("Nomad's parser: %w", err)
	}
	job.Canonicalize()
	if job.Type == nil || *job.Type != api.JobTypeBatch {
		return fmt.Errorf("job type %v, want batch", job.Type)
	}
	if len(job.TaskGroups) != n {
		return fmt.Errorf("%d task groups, want one per trial (%d)", len(job.TaskGroups), n)
	}
	for i, g := range job.TaskGroups {
		id := fmt.Sprintf("trial-%03d", i)
		if g.Name == nil || *g.Name != id {
			return fmt.Errorf("task group %d is named %v, want %s", i, g.Name, id)
		}
		var train, report *api.Task
		for _, t := range g.Tasks {
			switch t.Name {
			case "train":
				train = t
			case "report":
				report = t
			}
		}
		if train == nil || report == nil {
			return fmt.Errorf("%s: want a train and a report task", id)
		}
		args := fmt.Sprint(train.Config["args"])
		if !strings.Contains(args, " apply ") || !strings.Contains(args, "--trial "+id) {
			return fmt.Errorf("%s: the train task runs %s, not `runner apply … --trial %s`", id, args, id)
		}
		if report.Lifecycle == nil || report.Lifecycle.Hook != api.TaskLifecycleHookPoststop {
			return fmt.Errorf("%s: the report task is not a poststop task", id)
		}
		if !strings.Contains(fmt.Sprint(report.Config["args"]), " sweep report ") {
			return fmt.Errorf("%s: the report task runs %v", id, report.Config["args"])
		}
		if train.Resources == nil || train.Resources.Cores == nil || *train.Resources.Cores < 1 {
			return fmt.Errorf("%s: the train task reserves no cores", id)
		}
	}
	fmt.Printf("%s: parsed by Nomad's jobspec2 (strict): batch job %q, %d task groups, each train + poststop report\n", path, *job.ID, n)
	return nil
}
