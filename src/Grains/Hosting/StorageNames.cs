namespace SaeCluster.Grains;

/// <summary>The grain storage every SaeCluster grain keeps its state in (Orleans' file storage in a run folder, or ADO.NET on PostgreSQL).</summary>
public static class StorageNames
{
    public const string Default = "saecluster";
}
