using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace SaeCluster.Sae;

/// <summary>
/// The <c>saes:</c> list of a YAML (saectl train configs, sweeps): SAE families, each expanded over its
/// lists (widths × k × l1 × l0_coeff) into individual <see cref="SaeConfig"/>s, with errors naming
/// <c>saes[i].field</c> and line. <see cref="ToYaml"/> writes one SAE back as a single-SAE family with
/// every field explicit, which parses to an equal <see cref="SaeConfig"/>.
/// </summary>
public static class SaeFamilies
{
    public static readonly IReadOnlyList<string> Keys = ["name", "arch", "width", "widths", "k", "l1", "l0_coeff", "lr", "beta1", "beta2", "eps",
        "warmup_steps", "decay_fraction", "sparsity_warmup_steps", "auxk_alpha", "auxk", "threshold_init", "bandwidth",
        "threshold_beta", "threshold_start_step"];

    /// <summary>
    /// Expands a <c>saes:</c> node (null when the key is absent) into SAEs, in order: family by family,
    /// widths outermost, then k, l1, l0_coeff. <paramref name="field"/> names the list in errors ("saes").
    /// </summary>
    public static IReadOnlyList<SaeConfig> Expand(YamlNode? saes, string field = "saes")
    {
        if (saes is not YamlSequenceNode seq || seq.Children.Count == 0)
            throw new ConfigException(field, "is required: a list of SAE families (arch:, width:, k: / l1: / l0_coeff:)");
        var result = new List<SaeConfig>();
        for (int i = 0; i < seq.Children.Count; i++)
        {
            string f = $"{field}[{i}]";
            if (seq.Children[i] is not YamlMappingNode m) throw new ConfigException(f, "must be a mapping");
            result.AddRange(ExpandFamily(new YamlFields(m, f + ".", Keys), f));
        }
        return result;
    }

    static IEnumerable<SaeConfig> ExpandFamily(YamlFields f, string field)
    {
        var arch = SaeArchitectureNames.Parse(f.String("arch") ?? throw new ConfigException(field + ".arch", "is required (relu, topk, batchtopk or jumprelu)"), field + ".arch");
        var widths = f.LongList("widths") ?? f.LongList("width") ?? throw new ConfigException(field + ".width", "is required (or widths: [..])");
        var ks = f.LongList("k") ?? [0];
        var l1s = f.DoubleList("l1") ?? [0];
        var l0s = f.DoubleList("l0_coeff") ?? [0];
        string? name = f.String("name");
        var combos = (from w in widths from k in ks from l1 in l1s from l0 in l0s select (w, k, l1, l0)).ToArray();
        if (name != null && combos.Length > 1) throw new ConfigException(field + ".name", $"names one SAE but the family expands to {combos.Length}; drop name: to get generated names");
        foreach (var (w, k, l1, l0) in combos)
        {
            if (w > int.MaxValue) throw new ConfigException(field + ".width", $"{w} is too large");
            yield return new SaeConfig(arch, (int)w, (int)k, (float)l1, (float)l0,
                lr: f.Float("lr"), beta1: f.Float("beta1"), beta2: f.Float("beta2") ?? 0.999f, epsilon: f.Float("eps"),
                warmupSteps: (int)(f.Long("warmup_steps") ?? 1000), decayFraction: f.Float("decay_fraction") ?? 0.2f,
                sparsityWarmupSteps: (int)(f.Long("sparsity_warmup_steps") ?? -1), auxKCoefficient: f.Float("auxk_alpha") ?? 1f / 32,
                auxK: (int)(f.Long("auxk") ?? 0), thresholdInit: f.Float("threshold_init") ?? 0.001f, bandwidth: f.Float("bandwidth") ?? 0.001f,
                thresholdBeta: f.Float("threshold_beta") ?? 0.999f, thresholdStartStep: (int)(f.Long("threshold_start_step") ?? 1000),
                name: name, field: field);
        }
    }

    /// <summary>
    /// One SAE as a YAML list item with every field explicit (name included; lr only when set, since its
    /// default depends on d_in), each line prefixed by
    /// <paramref name="indent"/>: "- name: …\n  arch: …". Parsing it back yields an equal <see cref="SaeConfig"/>.
    /// </summary>
    public static string ToYaml(SaeConfig c, string indent = "  ")
    {
        var inv = CultureInfo.InvariantCulture;
        var fields = new List<(string Key, string Value)>
        {
            ("name", YamlFields.Quote(c.Name)),
            ("arch", c.Architecture.ToName()),
            ("width", c.Width.ToString(inv)),
        };
        if (c.K != 0) fields.Add(("k", c.K.ToString(inv)));
        if (c.L1Coefficient != 0) fields.Add(("l1", YamlFields.Number(c.L1Coefficient)));
        if (c.L0Coefficient != 0) fields.Add(("l0_coeff", YamlFields.Number(c.L0Coefficient)));
        if (c.LearningRate is float lr) fields.Add(("lr", YamlFields.Number(lr))); // absent: the default rule, resolved against d_in
        fields.AddRange([
            ("beta1", YamlFields.Number(c.Beta1)),
            ("beta2", YamlFields.Number(c.Beta2)),
            ("eps", YamlFields.Number(c.Epsilon)),
            ("warmup_steps", c.WarmupSteps.ToString(inv)),
            ("decay_fraction", YamlFields.Number(c.DecayFraction)),
            ("sparsity_warmup_steps", c.SparsityWarmupSteps.ToString(inv)),
            ("auxk_alpha", YamlFields.Number(c.AuxKCoefficient)),
            ("auxk", c.AuxK.ToString(inv)),
            ("threshold_init", YamlFields.Number(c.ThresholdInit)),
            ("bandwidth", YamlFields.Number(c.Bandwidth)),
            ("threshold_beta", YamlFields.Number(c.ThresholdBeta)),
            ("threshold_start_step", c.ThresholdStartStep.ToString(inv)),
        ]);
        var b = new System.Text.StringBuilder();
        for (int i = 0; i < fields.Count; i++)
            b.Append(indent).Append(i == 0 ? "- " : "  ").Append(fields[i].Key).Append(": ").Append(fields[i].Value).Append('\n');
        return b.ToString();
    }
}
