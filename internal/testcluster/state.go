package testcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the file in a detached cluster's directory that records what
// runs, so a later process can find and stop it.
const StateFile = "cluster.json"

type savedProcess struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Binary string `json:"binary"`
}

type savedCluster struct {
	Server          string         `json:"server"`
	AdminKubeconfig string         `json:"adminKubeconfig"`
	Processes       []savedProcess `json:"processes"`
}

// Save records the cluster's processes in Dir/cluster.json for StopSaved.
func (c *Cluster) Save() error {
	s := savedCluster{Server: c.Server, AdminKubeconfig: c.AdminKubeconfig}
	for _, p := range c.procs {
		s.Processes = append(s.Processes, savedProcess{Name: p.name, PID: p.pid(), Binary: p.cmd.Path})
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, StateFile), data, 0o600)
}

// LoadSaved reads the state of a detached cluster and reports whether all
// of its processes still run.
func LoadSaved(dir string) (server, kubeconfig string, running bool, err error) {
	s, err := readState(dir)
	if err != nil {
		return "", "", false, err
	}
	running = len(s.Processes) > 0
	for _, p := range s.Processes {
		running = running && isRunning(p.PID, p.Binary)
	}
	return s.Server, s.AdminKubeconfig, running, nil
}

// StopSaved stops, by pid, the processes of the detached cluster in dir.
func StopSaved(dir string) error {
	s, err := readState(dir)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(s.Processes) - 1; i >= 0; i-- {
		p := s.Processes[i]
		if err := stopPID(p.PID, p.Binary); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func readState(dir string) (*savedCluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s savedCluster
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}
