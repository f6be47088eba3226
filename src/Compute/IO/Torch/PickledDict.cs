using System.Collections;

namespace SaeCluster.Compute;

/// <summary>
/// A dict or OrderedDict while Razorvine.Pickle unpickles a torch file. <see cref="TorchPickleGuard"/> rewrites every
/// SETITEM/SETITEMS into a BUILD, and Razorvine's BUILD calls the <c>__setstate__</c> overload matching the argument's
/// type (found by reflection), so items arrive here in file order. Keys must be strings.
/// </summary>
internal sealed class PickledDict
{
    /// <summary>The items in insertion order; a repeated key keeps its first position and takes the last value, as in Python.</summary>
    public OrderedDictionary<string, object?> Items { get; } = [];

    /// <summary>Rewritten SETITEMS: the items as [key0, value0, key1, value1, …].</summary>
    public void __setstate__(ArrayList keysAndValues)
    {
        for (int i = 0; i + 1 < keysAndValues.Count; i += 2) Set(keysAndValues[i], keysAndValues[i + 1]);
    }

    /// <summary>Rewritten SETITEM: one (key, value) pair.</summary>
    public void __setstate__(object?[] keyAndValue) => Set(keyAndValue[0], keyAndValue[1]);

    /// <summary>A real BUILD: the instance attributes of an OrderedDict, e.g. a state_dict's <c>_metadata</c>; ignored.</summary>
    public void __setstate__(PickledDict attributes)
    {
    }

    private void Set(object? key, object? value)
    {
        if (key is not string name)
            throw new TorchPickleContentException($"a dict has a key of type {TorchPickleContentException.PythonTypeOf(key)}; only string keys are supported");
        Items[name] = value;
    }
}
