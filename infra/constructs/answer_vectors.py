"""``AnswerVectors``: the semantic cache's vector store on Amazon S3 Vectors.

One vector bucket and one index (cosine, float32, the stage's dimension). Every piece of
metadata stays filterable (S3 Vectors' default): a query is always filtered by ``scope``
(the hash of everything but the last user message, namespace included), so a key only
ever sees its own scope's vectors. Built only when the stage turns semantic lookups on:
at 0 traffic S3 Vectors costs its storage alone (cents), no cluster or OCU runs.

Names are CloudFormation's (a change of dimension replaces the index under a new name);
the functions learn them from the index's ARN
(``arn:<partition>:s3vectors:<region>:<account>:bucket/<bucket>/index/<index>``).
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3vectors as s3vectors

from constructs import Construct

#: what ``storage/s3vectors.py`` issues: a write per stored answer, a query per semantic
#: lookup (QueryVectors with metadata needs GetVectors too), a delete per evicted answer
VECTOR_ACTIONS = (
    "s3vectors:PutVectors",
    "s3vectors:QueryVectors",
    "s3vectors:GetVectors",
    "s3vectors:DeleteVectors",
)


class AnswerVectors(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, dimension: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3vectors.CfnVectorBucket(
            self,
            "Bucket",
            encryption_configuration=s3vectors.CfnVectorBucket.EncryptionConfigurationProperty(
                sse_type="AES256"
            ),
        )
        self.index = s3vectors.CfnIndex(
            self,
            "Index",
            vector_bucket_arn=self.bucket.attr_vector_bucket_arn,
            data_type="float32",
            dimension=dimension,
            distance_metric="cosine",
        )
        self.index_arn = self.index.attr_index_arn
        parts = Fn.split("/", self.index_arn)
        self.bucket_name = Fn.select(1, parts)
        self.index_name = Fn.select(3, parts)

    def grant(self, role: iam.IRole) -> None:
        """Exactly the vector operations, on this index only."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(VECTOR_ACTIONS), resources=[self.index_arn])
        )
