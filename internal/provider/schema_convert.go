package provider

import (
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
)

// The pin resource takes the same gate settings as the data sources. The
// framework has a schema package per kind of type, so the data sources'
// (optional, plain) settings attributes and blocks are converted here
// instead of being written twice.

func toResourceAttributes(in map[string]dschema.Attribute) map[string]rschema.Attribute {
	out := map[string]rschema.Attribute{}
	for name, a := range in {
		switch a := a.(type) {
		case dschema.StringAttribute:
			out[name] = rschema.StringAttribute{Optional: a.Optional, Required: a.Required, Sensitive: a.Sensitive, MarkdownDescription: a.MarkdownDescription}
		case dschema.BoolAttribute:
			out[name] = rschema.BoolAttribute{Optional: a.Optional, Required: a.Required, MarkdownDescription: a.MarkdownDescription}
		case dschema.Int64Attribute:
			out[name] = rschema.Int64Attribute{Optional: a.Optional, Required: a.Required, MarkdownDescription: a.MarkdownDescription}
		case dschema.ListAttribute:
			out[name] = rschema.ListAttribute{Optional: a.Optional, Required: a.Required, ElementType: a.ElementType, MarkdownDescription: a.MarkdownDescription}
		case dschema.MapAttribute:
			out[name] = rschema.MapAttribute{Optional: a.Optional, Required: a.Required, Sensitive: a.Sensitive, ElementType: a.ElementType, MarkdownDescription: a.MarkdownDescription}
		default:
			panic("toResourceAttributes: unsupported attribute " + name) // a programming error, caught by any test
		}
	}
	return out
}

func toResourceBlocks(in map[string]dschema.Block) map[string]rschema.Block {
	out := map[string]rschema.Block{}
	for name, b := range in {
		switch b := b.(type) {
		case dschema.ListNestedBlock:
			out[name] = rschema.ListNestedBlock{MarkdownDescription: b.MarkdownDescription, NestedObject: rschema.NestedBlockObject{
				Attributes: toResourceAttributes(b.NestedObject.Attributes), Blocks: toResourceBlocks(b.NestedObject.Blocks)}}
		case dschema.SingleNestedBlock:
			out[name] = rschema.SingleNestedBlock{MarkdownDescription: b.MarkdownDescription,
				Attributes: toResourceAttributes(b.Attributes), Blocks: toResourceBlocks(b.Blocks)}
		default:
			panic("toResourceBlocks: unsupported block " + name)
		}
	}
	return out
}
