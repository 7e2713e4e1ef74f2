package cmdutil

import (
	"github.com/kubeaccess/kubeaccess/internal/failure"

	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes/scheme"
)

// SummaryAPIVersion is the apiVersion of the summaries kubeaccess prints
// with -o.
const SummaryAPIVersion = "kubeaccess.io/v1alpha1"

// Output is -o of a command that prints a summary or objects: kubectl's
// formats (json, yaml, name, jsonpath=..., go-template=...) through
// cli-runtime's PrintFlags; empty for the command's own table.
type Output struct {
	PrintFlags *genericclioptions.PrintFlags
	// human are formats the command prints itself, as a table (wide).
	human   []string
	printer printers.ResourcePrinter
}

// NewOutput returns the -o flags; human are the formats besides the
// default that the command prints as its own table (for example wide).
func NewOutput(human ...string) *Output {
	return &Output{PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.Scheme), human: human}
}

// AddFlags registers -o and the template flags.
func (o *Output) AddFlags(cmd *cobra.Command) {
	o.PrintFlags.AddFlags(cmd)
	if len(o.human) > 0 {
		f := cmd.Flags().Lookup("output")
		f.Usage = strings.Replace(f.Usage, "One of: (", "One of: ("+strings.Join(o.human, ", ")+", ", 1)
	}
}

// Format is -o's value.
func (o *Output) Format() string { return *o.PrintFlags.OutputFormat }

// Structured reports whether -o asks for a machine-readable format
// rather than the command's own table.
func (o *Output) Structured() bool { return o.Format() != "" && !slices.Contains(o.human, o.Format()) }

// Validate builds the printer, refusing an unknown format as a usage
// error; no I/O.
func (o *Output) Validate() error {
	if !o.Structured() {
		return nil
	}
	p, err := o.PrintFlags.ToPrinter()
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	o.printer = p
	return nil
}

// PrintSummary prints v, a command's summary, as an object of kind with
// the given name, so that every -o format applies to it.
func (o *Output) PrintSummary(w io.Writer, kind, name string, v any) error {
	obj, err := summaryObject(kind, name, v)
	if err != nil {
		return err
	}
	return o.printer.PrintObj(obj, w)
}

// PrintList prints items as a list of kind KindList, each item an object
// of kind named by name, so that every -o format applies: jsonpath to
// {.items[*].metadata.name}, name to each item.
func PrintList[T any](o *Output, w io.Writer, kind string, items []T, name func(T) string) error {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": SummaryAPIVersion, "kind": kind + "List"}}
	list.Items = make([]unstructured.Unstructured, 0, len(items))
	for _, it := range items {
		obj, err := summaryObject(kind, name(it), it)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *obj)
	}
	return o.printer.PrintObj(list, w)
}

// PrintObjects prints what a dry run would create: each object (yaml and
// name print one after another), or a List for the other formats; yaml
// when no format was asked for.
func (o *Output) PrintObjects(w io.Writer, objs []runtime.Object) error {
	p := o.printer
	if p == nil {
		p = &printers.YAMLPrinter{}
	}
	switch o.Format() {
	case "", "yaml", "name":
		for _, obj := range objs {
			if err := p.PrintObj(obj, w); err != nil {
				return err
			}
		}
		return nil
	}
	list := &metav1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for _, obj := range objs {
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	return p.PrintObj(list, w)
}

// summaryObject turns v into an object of kind, apiVersion
// kubeaccess.io/v1alpha1, named name, with v's fields at the top level.
func summaryObject(kind, name string, v any) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{}
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	// A field of v's own named kind (a credential's, a subject's) keeps
	// its value under the summary kind's name: credentialKind.
	if own, ok := fields["kind"]; ok {
		fields[strings.ToLower(kind[:1])+kind[1:]+"Kind"] = own
	}
	fields["apiVersion"], fields["kind"] = SummaryAPIVersion, kind
	fields["metadata"] = map[string]any{"name": name}
	return &unstructured.Unstructured{Object: fields}, nil
}

// ListStream prints a list as PrintList does for -o json, one item at a
// time as they come, so that a long list (every event of an audit log) is
// never held whole. Items are objects of kind, named by name.
type ListStream struct {
	w     *bufio.Writer
	kind  string
	count int
	err   error
}

// NewListStream starts a list of kind KindList on w.
func NewListStream(w io.Writer, kind string) *ListStream {
	s := &ListStream{w: bufio.NewWriterSize(w, 1<<16), kind: kind}
	fmt.Fprintf(s.w, `{"apiVersion":%q,"kind":%q,"items":[`, SummaryAPIVersion, kind+"List")
	return s
}

// Add prints one item: v's fields (an object with no kind or metadata of
// its own), with the item's apiVersion, kind and name.
func (s *ListStream) Add(name string, v any) {
	if s.err != nil {
		return
	}
	data, err := json.Marshal(v)
	if err != nil || len(data) < 2 || data[0] != '{' {
		s.err = fmt.Errorf("printing %s %q: not an object (%v)", s.kind, name, err)
		return
	}
	if s.count > 0 {
		s.w.WriteByte(',')
	}
	s.count++
	meta, _ := json.Marshal(map[string]string{"name": name})
	fmt.Fprintf(s.w, "\n{\"apiVersion\":%q,\"kind\":%q,\"metadata\":%s", SummaryAPIVersion, s.kind, meta)
	if len(data) > 2 {
		s.w.WriteByte(',')
	}
	_, s.err = s.w.Write(data[1:])
}

// Close ends the list.
func (s *ListStream) Close() error {
	if s.err != nil {
		return s.err
	}
	s.w.WriteString("\n]}\n")
	return s.w.Flush()
}
