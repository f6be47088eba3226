using SaeCluster.Models;
using SaeCluster.Sae;

namespace SaeCluster.Grains;

/// <summary>Loading what work reads from files (a model, a tokenizer, SAEs): a bad file ends the work Failed, naming the file, instead of being retried.</summary>
public static class WorkInput
{
    public static T Load<T>(Func<T> load, string path)
    {
        try { return load(); }
        catch (Exception e) when (e is ModelFormatException or TokenizerFormatException or ConfigException or DataException
                                   or Compute.TensorFormatException or Compute.SafetensorsFormatException)
        {
            throw new WorkFailedException($"{path}: {e.Message}", e);
        }
    }
}
