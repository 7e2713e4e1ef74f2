package cmdutil

import (
	"encoding/json"
	"io"

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
	printer    printers.ResourcePrinter
}

// NewOutput returns the -o flags.
func NewOutput() *Output {
	return &Output{PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.Scheme)}
}

// AddFlags registers -o and the template flags.
func (o *Output) AddFlags(cmd *cobra.Command) { o.PrintFlags.AddFlags(cmd) }

// Format is -o's value.
func (o *Output) Format() string { return *o.PrintFlags.OutputFormat }

// Structured reports whether -o asks for a machine-readable format.
func (o *Output) Structured() bool { return o.Format() != "" }

// Validate builds the printer, refusing an unknown format as a usage
// error; no I/O.
func (o *Output) Validate() error {
	if !o.Structured() {
		return nil
	}
	p, err := o.PrintFlags.ToPrinter()
	if err != nil {
		return UsageErrorf("%w", err)
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
	fields["apiVersion"], fields["kind"] = SummaryAPIVersion, kind
	fields["metadata"] = map[string]any{"name": name}
	return &unstructured.Unstructured{Object: fields}, nil
}
