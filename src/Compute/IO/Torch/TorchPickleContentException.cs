using System.Collections;
using System.Numerics;
using Razorvine.Pickle;

namespace SaeCluster.Compute;

/// <summary>
/// Something inside a torch pickle that <see cref="TorchFile"/> cannot turn into a value, thrown from code Razorvine.Pickle
/// calls (constructors, <c>__setstate__</c>), which does not know the file. <see cref="TorchFile.Read"/> turns it into a
/// <see cref="TorchFormatException"/> naming the file.
/// </summary>
internal sealed class TorchPickleContentException(string problem) : Exception(problem)
{
    /// <summary>The Python type name of an unpickled value, for messages.</summary>
    public static string PythonTypeOf(object? value) => value switch
    {
        null => "None",
        string => "str",
        bool => "bool",
        int or long or BigInteger => "int",
        double => "float",
        object[] => "tuple",
        ArrayList => "list",
        PickledDict => "dict",
        StoredTensor => "torch.Tensor",
        TorchStorage => "torch storage",
        IObjectConstructor => "a class or function",
        _ => value.GetType().Name,
    };
}
